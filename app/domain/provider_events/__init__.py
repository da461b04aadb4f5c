"""What the payment provider tells us by webhook: each event handled once, with its effect."""
