"""What ``bench/bulk_upload.py`` is made of: the price lists it uploads, the three
phases and what each must answer, the ``psql \\copy`` baseline, the SQL statements
and profiles taken in-process, and the report."""
