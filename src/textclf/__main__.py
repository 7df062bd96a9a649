"""`python -m textclf ...` (what torchrun and accelerate launch run): the CLI."""
from textclf.cli import main

main()
