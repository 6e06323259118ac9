"""Triage: patients, signed assessments, NEWS2 and Ministry of Health rules, follow-ups, epidemic levels."""
