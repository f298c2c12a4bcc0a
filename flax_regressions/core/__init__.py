"""The bottom layer: paths, the results model, the notion of the same failure, exit statuses."""
