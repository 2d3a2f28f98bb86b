"""Exporting trained models: SavedModels with named signatures (serving) and .keras files."""
