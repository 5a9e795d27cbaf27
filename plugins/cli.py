"""Command line: ``python -m steadygrad {run,bench,demo,list}``."""
def main(argv=None) -> int:
    return 0
