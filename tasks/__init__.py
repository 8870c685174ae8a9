"""The built-in step types, one module per type. They are registered through the
`automations.steps` entry-point group, exactly as a third-party plugin is."""
