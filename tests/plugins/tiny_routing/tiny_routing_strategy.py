"""A tiny third-party routing strategy, installed only by the plugin test.

It reuses the default pipeline and puts one ranker first: the node with the
highest priority number wins (the opposite of the shop's own preference), so
a test can tell which strategy planned.
"""

from warehouse.routing import DefaultStrategy, RankingRule


class HighestPriorityNumberFirst(RankingRule):
    name = "highest_priority_number_first"

    def key(self, option, request):
        return -max(node.priority for node in option.nodes)

    def describe(self, option, request):
        return f"highest priority number {max(node.priority for node in option.nodes)}"


class TinyStrategy(DefaultStrategy):
    name = "tiny"

    def __init__(self):
        base = DefaultStrategy()
        super().__init__(base.filters, (HighestPriorityNumberFirst(), *base.rankers))
