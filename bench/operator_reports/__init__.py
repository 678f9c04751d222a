"""What ``bench/reports.py`` is made of besides its measurements: the reports it
measures, the world of orders it builds with SQL, and its report."""
