"""Networks: ``build_model(cfg)`` and the shared output type (see docs/design.md)."""
