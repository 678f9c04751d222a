"""What ``bench/pick_list.py`` is made of: the world it builds (ready shipments, held
lines, stock and bins), the calls it times, and its report."""
