/// Shim over the system OpenSSL 3: the headers Swift needs, plus `static inline`
/// wrappers for what Swift cannot import (function-like macros, `SSL_OP_*` constants).
#ifndef AXINOVA_COPENSSL_SHIM_H
#define AXINOVA_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>

// MARK: SSL_OP_* / SSL_MODE_* (built with SSL_OP_BIT: not importable as constants)
static const uint64_t AXN_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t AXN_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t AXN_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const uint64_t AXN_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const long AXN_SSL_MODE_RELEASE_BUFFERS = SSL_MODE_RELEASE_BUFFERS;
static const long AXN_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
static const long AXN_SSL_MODE_NO_AUTO_CHAIN = SSL_MODE_NO_AUTO_CHAIN;

// MARK: SSL_CTX macros
static inline int axn_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) {
    return (int)SSL_CTX_set_min_proto_version(ctx, v);
}
static inline int axn_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) {
    return (int)SSL_CTX_set_max_proto_version(ctx, v);
}
static inline long axn_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline int axn_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
static inline long axn_SSL_CTX_set_session_cache_mode_off(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

// MARK: SSL macros
static inline int axn_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// MARK: BIO macros
static inline void axn_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
static inline void axn_BIO_set_retry_write(BIO *b) { BIO_set_retry_write(b); }
static inline void axn_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }

// MARK: key generation (EVP_EC_gen is a macro over the variadic EVP_PKEY_Q_keygen)
static inline EVP_PKEY *axn_EVP_EC_gen(const char *curve) { return EVP_EC_gen(curve); }

#endif
