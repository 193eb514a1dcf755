"""Test doubles of the external systems: the counter system (`counter`), the national portal
(`portal`) and the document-management system (`docsys`), with the faults they share (`faults`).
They import the contracts from the services that talk to the real systems; no service imports them."""
