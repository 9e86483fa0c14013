"""Finding, fetching and converting models into mlx-lm folders."""
