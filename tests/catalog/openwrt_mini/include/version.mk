# Test tree release; a real tree says e.g. 24.10-SNAPSHOT on a branch.
VERSION_NUMBER:=$(if $(VERSION_NUMBER),$(VERSION_NUMBER),24.10.2)
