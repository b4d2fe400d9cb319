"""The selfie capture page: blueprint, template, static JS/CSS."""
