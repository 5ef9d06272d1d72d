"""Test tooling shipped with tsrt: the corpus of real architectures (corpus.py) and
what it needs to import them here (torchvision_ops.py), and the loader fuzzer for
hostile files (fuzz/), and tiny random-weight causal LMs for the generation tests and
the C++ Generator test's fixture (tiny_lms.py)."""
