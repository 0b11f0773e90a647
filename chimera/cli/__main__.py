"""`python -m chimera.cli ...` (how the supervisor starts agents)."""

from chimera.cli.main import main

if __name__ == "__main__":
    main()
