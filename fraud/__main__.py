"""``python -m fraud``: the ``fraud`` command, for environments where the script is not on the PATH."""
from fraud.cli.main import run

if __name__ == "__main__":
    run()
