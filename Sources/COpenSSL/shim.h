/// Shim over the system OpenSSL 3: the headers Swift needs, plus `static inline`
/// wrappers for what Swift cannot import (function-like macros, `SSL_OP_*` constants).
#ifndef AXINOVA_COPENSSL_SHIM_H
#define AXINOVA_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>

#endif
