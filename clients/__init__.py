"""How each backend is reached: one class per backend, no pytest in here."""
