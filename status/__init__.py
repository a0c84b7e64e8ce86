"""`scripts/status`: the operator's live view of a stack, outside the Pulumi program.

probe (what runs on pbx01 and how it is reached), judge (what is wrong: pure), render (text and
JSON), cli (arguments, reading the stack, exit codes); model holds what they share.
"""
