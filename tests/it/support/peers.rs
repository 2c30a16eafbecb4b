//! Real peers (Dovecot, SMTP, Chromium) arrive with later features.
