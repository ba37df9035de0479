"""Re-consent pages (GET /reconsent/<token>, POST /reconsent/<token>): to be written."""
