"""``python -m moodchat`` runs the CLI."""

from moodchat.cli import main

if __name__ == "__main__":
    main()
