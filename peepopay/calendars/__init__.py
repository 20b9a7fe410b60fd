"""The tradie's own calendars: ICS feeds and CalDAV calendars whose busy times block slots."""
