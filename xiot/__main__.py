"""Allow ``python -m xiot``."""

from xiot.cli import main

main()
