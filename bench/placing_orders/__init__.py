"""What ``bench/checkout.py`` is made of: the orders it places and the world it
places them in, the HTTP and pgbench load with what each run measured, the SQL
statements counted in-process, and the report."""
