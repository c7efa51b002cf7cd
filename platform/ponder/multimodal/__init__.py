"""Images and tables understood with text: input checks, encoders, cross-modal fusion."""
