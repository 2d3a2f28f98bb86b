"""Trained models as presets: a directory of data only (settings, weights, model card), found by a built-in name, a
path, or a hub handle. `imgtf.load_preset`, `imgtf.save_preset`, `imgtf.upload_preset` (imgtf.presets.preset);
the files and their checks (preset_files); the model card (model_card); hub handles (hub); the presets shipped with
the package lie under builtin/ as package data."""
