"""The main job: play trade show to delivery against the sandboxes and verify every record."""
