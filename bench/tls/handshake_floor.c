/* OpenSSL's own share of a new TLS 1.3 connection on the server: N handshakes between a client and
 * a server SSL over an in-memory BIO pair, one thread, with the server settings of TLSContext.server
 * (Mozilla intermediate, X25519:P-256:P-384, no tickets, no session cache, released buffers, no auto
 * chain). Only the server's calls are timed (thread CPU time: SSL_new, SSL_do_handshake, SSL_free).
 * This is the floor no server on this OpenSSL can go below; the rest of a server's CPU per connection
 * is its socket, event loop and application overhead.
 * Usage: handshake_floor CERT_DIR [N]  (CERT_DIR from certs/make-dev-certs.sh)
 * Build: cc -O2 -o handshake_floor handshake_floor.c -lssl -lcrypto */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s CERT_DIR [N]\n", argv[0]); return 2; }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 10 || n > 1000000) { fprintf(stderr, "N out of range\n"); return 2; }
    char cert[1024], key[1024], ca[1024];
    snprintf(cert, sizeof cert, "%s/server.pem", argv[1]);
    snprintf(key, sizeof key, "%s/server-key.pem", argv[1]);
    snprintf(ca, sizeof ca, "%s/ca.pem", argv[1]);

    SSL_CTX *server = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(server, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(server,
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    SSL_CTX_set1_groups_list(server, "X25519:P-256:P-384");
    SSL_CTX_set_options(server, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(server, 0);
    SSL_CTX_set_session_cache_mode(server, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(server, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_use_certificate_chain_file(server, cert) != 1
        || SSL_CTX_use_PrivateKey_file(server, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX *client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(client, ca, NULL);

    double *times = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        SSL *c = SSL_new(client);
        BIO *client_end, *server_end;
        BIO_new_bio_pair(&client_end, 0, &server_end, 0);
        SSL_set_bio(c, client_end, client_end);
        SSL_set_connect_state(c);
        double t0 = cpu_us(), spent;
        SSL *s = SSL_new(server);
        SSL_set_bio(s, server_end, server_end);
        SSL_set_accept_state(s);
        spent = cpu_us() - t0;
        int done = 0;
        for (int round = 0; round < 10 && !done; round++) {   /* bounded: TLS 1.3 needs 2 */
            int rc = SSL_do_handshake(c);
            t0 = cpu_us();
            int rs = SSL_do_handshake(s);
            spent += cpu_us() - t0;
            done = rc == 1 && rs == 1;
        }
        if (!done) { fprintf(stderr, "handshake %d did not complete\n", i); ERR_print_errors_fp(stderr); return 1; }
        t0 = cpu_us();
        SSL_free(s);
        spent += cpu_us() - t0;
        SSL_free(c);
        times[i] = spent;
    }
    qsort(times, n, sizeof(double), compare);
    printf("%.0f\n", times[n / 2]);   /* median µs of server CPU per handshake */
    return 0;
}
