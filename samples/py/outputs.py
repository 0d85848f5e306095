# What a program sees of its environment, and an exit status, for
# tests/test_python.c: run with and without refscope, the output must be the
# same byte for byte.
import os
import sys

print("PYTHONMALLOC", os.environ.get("PYTHONMALLOC"))
print("PYTHONPATH", os.environ.get("PYTHONPATH"))
print("sitecustomize", getattr(sys.modules.get("sitecustomize"), "__file__", None))
print("path", [p for p in sys.path if "refscope" in p or p.endswith("python")])
sys.stderr.write("to stderr\n")
sys.exit(3)
