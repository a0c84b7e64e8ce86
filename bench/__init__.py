"""The benchmarks behind scripts/benchmark: figures of one run on the lab, to compare run to run
(not tests). One module per benchmark; common.py holds what they share."""
