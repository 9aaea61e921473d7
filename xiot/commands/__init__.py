"""xiot command groups: thin typer front-ends over the library."""
