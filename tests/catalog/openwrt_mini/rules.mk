# Test tree: the few rules.mk variables the import driver relies on.
INCLUDE_DIR ?= $(TOPDIR)/include
SCRIPT_DIR ?= $(TOPDIR)/scripts
space :=
space +=
