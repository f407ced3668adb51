"""SLAs: contractual promises per case (issue 16, in progress). So far: business calendars,
the clock every SLA target is measured on."""

from daytwo.sla._calendar import BusinessCalendar, WorkingHours

__all__ = ["BusinessCalendar", "WorkingHours"]
