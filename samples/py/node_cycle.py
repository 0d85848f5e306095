# The two-node cycle of CPython's memory-management story, for tests/test_python.c.
#   node_cycle.py plain|dict|slots [collect]
# plain: class Node with value and next attributes; a.next = b; b.next = a;
#        del a, b with the collector disabled: the cycle leaks. (CPython 3.11
#        keeps plain instance attributes in a values array, not a dict object,
#        until something asks for __dict__.)
# dict:  the same, and each node's __dict__ is read once, so each has a real
#        instance dict object, as every instance had before 3.11.
# slots: Node with __slots__ = ['value', 'next']: no dicts at all.
# collect: gc.collect() before the end: nothing leaks.
import gc
import sys

kind = sys.argv[1]
gc.disable()


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None
        if kind == "dict":
            self.__dict__  # makes the instance dict a real dict object


class SlotNode:
    __slots__ = ["value", "next"]

    def __init__(self, value):
        self.value = value
        self.next = None


SlotNode.__name__ = SlotNode.__qualname__ = "Node"
cls = SlotNode if kind == "slots" else Node
a = cls(1)
b = cls(2)
a.next = b
b.next = a
del a, b
if "collect" in sys.argv[2:]:
    gc.collect()
print("made a", kind, "cycle")
