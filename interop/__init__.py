"""The formats of the formal-methods ecosystem: machines exported as Quint modules,
traces read and written in the Informal Trace Format (ITF) of Apalache and Quint."""
