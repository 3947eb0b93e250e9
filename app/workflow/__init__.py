"""The nurse and physician workflow without Kivy: field validation with the words shown
beside each field, doses from the vial's dilution, running totals against the label limits,
snippet quantisation, sign-in and idle lock, the procedure from set-up to signature, and
the history queries. The screens in app/ui only display what these modules decide, so every
rule here is tested without a window.
"""

from app.workflow.procedure import ProcedureFlow

__all__ = ["ProcedureFlow"]
