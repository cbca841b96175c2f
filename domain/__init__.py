"""sickbay's domain: models, detection, checklist and audit. Plain Python, no Textual."""
