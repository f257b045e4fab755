# Test tree: what every package starts from.
define Package/Default
  TITLE:=
  SUBMENU:=
  DEPENDS:=
  KCONFIG:=
  HIDDEN:=
  DEFAULT:=
  SOURCE:=$(subst $(TOPDIR)/package/,feeds/base/,$(CURDIR))
endef
