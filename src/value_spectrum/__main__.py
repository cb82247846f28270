"""``python -m value_spectrum`` runs the command-line interface."""

from value_spectrum.cli.app import main

if __name__ == "__main__":
    main()
