# a target-specific addition, as OpenWrt allows with KernelPackage/<name>/<board>
define KernelPackage/crypto-hash/ramips
  KCONFIG+=CONFIG_CRYPTO_HASH_INFO
endef

define KernelPackage/crypto-hash
  SUBMENU:=Cryptographic API modules
  TITLE:=CryptoAPI hash support
  HIDDEN:=1
  DEFAULT:=y if PACKAGE_kmod-nft-core
  KCONFIG:=CONFIG_CRYPTO_HASH
  FILES:=$(LINUX_DIR)/crypto/crypto_hash.ko
  AUTOLOAD:=$(call AutoLoad,02,crypto_hash,1)
endef
$(eval $(call KernelPackage,crypto-hash))
