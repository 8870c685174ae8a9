"""Trust policies for AssumeRoleWithWebIdentity: written for people (generate.py), read as IAM
reads them (policy.py), and checked locally against a token's claims as IAM decides
(evaluate.py), so that "compare the sub claim with the trust policy by eye" becomes
`automations aws check-trust`."""
