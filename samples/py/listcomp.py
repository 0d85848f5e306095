# Peak memory of a list comprehension against a generator expression, for
# tests/test_python.c: listcomp.py list|gen. Both sum the same 10**6 ints;
# the list holds every int object (and an 8 MB array of pointers) at once,
# the generator one at a time.
import sys

if sys.argv[1] == "list":
    total = sum([i * 3 for i in range(10**6)])
else:
    total = sum(i * 3 for i in range(10**6))
print(total)
