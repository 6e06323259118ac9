"""Phone triage rules, pure and versioned: no database, no HTTP, no settings.

rules            the Ministry of Health rule sets and our policy (every "our default" choice)
vitals           what a caller reports, validated; the symptom vocabulary
news2            the NEWS2 score (Royal College of Physicians, 2017)
warning_signs    the Ministry's warning signs (Decisions 261 and 4377/QĐ-BYT)
severity         the HCMC severity class (4689/QĐ-BYT)
disposition      our default disposition: home care with a follow-up interval, or a transfer
result           all of them at once, with the rule version that produced them
"""
