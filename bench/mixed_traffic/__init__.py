"""What ``bench/soak.py`` is made of: the mix of traffic and its steps, the clients
and what they record, the world the traffic runs in, the workers' memory over time,
and the report."""
