import COpenSSL
import NIOCore

/// A memory BIO over two `ByteBuffer`s: ciphertext the peer sent (read by OpenSSL) and
/// ciphertext OpenSSL produced (taken by the handler and written to the channel).
///
/// Ownership: the `BIO*` is owned by the `SSL*` (`SSL_set_bio` takes our single reference and
/// frees it in `SSL_free`). The BIO's data pointer is an *unretained* reference to this object;
/// `TLSConnection` keeps this object alive for longer than its `SSL*`, so the pointer never
/// dangles, and `destroy` clears it anyway. Only used on the channel's event loop.
final class ByteBufferBIO {
    private(set) var bio: OpaquePointer?
    /// Ciphertext received from the network that OpenSSL has not read yet.
    private(set) var inbound: ByteBuffer
    /// Ciphertext written by OpenSSL that the handler has not taken yet.
    private(set) var outbound: ByteBuffer
    /// The peer closed its sending side (TCP FIN): reads return 0 instead of "retry".
    var peerClosed = false
    /// The peer's TLS 1.3 KeyUpdates, counted once asked (``TLSConnection/countKeyUpdates(limit:)``);
    /// kept here because the BIO is what OpenSSL's callback can reach.
    var keyUpdates = 0
    /// Past this many, the BIO gives OpenSSL nothing more to read: a read of many small
    /// records is one `SSL_read`, which would otherwise process every KeyUpdate in it.
    var keyUpdateLimit = Int.max

    private let allocator: ByteBufferAllocator

    /// One capacity-0 buffer shared by every idle BIO: a fresh `buffer(capacity: 0)` still costs
    /// two allocations (storage object + malloc(0)), and the first write into a shared buffer
    /// allocates its own storage anyway (copy on write).
    private static let empty = ByteBufferAllocator().buffer(capacity: 0)

    /// The first write after `takeOutbound` reserves this much: a TLS 1.3 server flight with an
    /// ECDSA certificate is ~850 bytes in six records, which would otherwise grow the buffer four times.
    static let outboundStartCapacity = 2_048

    init(allocator: ByteBufferAllocator) {
        self.allocator = allocator
        self.inbound = Self.empty
        self.outbound = Self.empty
        let bio = BIO_new(ByteBufferBIO.method.pointer)
        self.bio = bio
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
    }

    /// Bytes the peer sent that OpenSSL has not consumed (a partial record at most, unless reading is paused).
    var inboundBytes: Int { inbound.readableBytes }
    var outboundBytes: Int { outbound.readableBytes }

    func receive(_ buffer: inout ByteBuffer) {
        if inbound.readableBytes == 0 {
            // Nothing left over: read straight from the channel's buffer (no copy, no allocation).
            inbound = buffer
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        } else {
            inbound.writeBuffer(&buffer)
        }
    }

    /// Takes everything OpenSSL has written so far.
    func takeOutbound() -> ByteBuffer? {
        guard outbound.readableBytes > 0 else { return nil }
        let taken = outbound
        outbound = Self.empty
        return taken
    }

    /// Releases idle storage (keeps memory per idle connection small).
    func compactIfIdle() {
        if inbound.readableBytes == 0, inbound.capacity > 0 {
            inbound = Self.empty
        }
    }

    fileprivate func read(into target: UnsafeMutablePointer<CChar>, count: Int) -> Int32 {
        guard let bio else { return -1 }
        axn_BIO_clear_retry_flags(bio)
        let available = inbound.readableBytes
        // Past the KeyUpdate cap: "retry" (not end of input, even after the peer's FIN), and
        // the handler closes the connection for the cap.
        if available == 0 || keyUpdates > keyUpdateLimit {
            if peerClosed, available == 0 { return 0 }
            axn_BIO_set_retry_read(bio)
            return -1
        }
        let n = min(available, count)
        inbound.withUnsafeReadableBytes { source in
            UnsafeMutableRawPointer(target).copyMemory(from: source.baseAddress!, byteCount: n)
        }
        inbound.moveReaderIndex(forwardBy: n)
        return Int32(n)
    }

    fileprivate func write(from source: UnsafePointer<CChar>, count: Int) -> Int32 {
        guard let bio else { return -1 }
        axn_BIO_clear_retry_flags(bio)
        if outbound.capacity == 0 {
            outbound = allocator.buffer(capacity: max(count, Self.outboundStartCapacity))
        }
        outbound.writeBytes(UnsafeRawBufferPointer(start: source, count: count))
        return Int32(count)
    }

    fileprivate func ctrl(_ cmd: Int32) -> Int {
        switch cmd {
        case BIO_CTRL_FLUSH: return 1
        case BIO_CTRL_PENDING: return inbound.readableBytes
        case BIO_CTRL_WPENDING: return outbound.readableBytes
        case BIO_CTRL_EOF: return (peerClosed && inbound.readableBytes == 0) ? 1 : 0
        default: return 0
        }
    }

    fileprivate func detach() { bio = nil }

    /// The BIO_METHOD, made once per process (OpenSSL never frees it: it is process-wide).
    private struct Method: @unchecked Sendable { let pointer: OpaquePointer }
    private static let method: Method = {
        let index = BIO_get_new_index()
        let method = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "axinova ByteBuffer BIO")!
        BIO_meth_set_read(method, bioRead)
        BIO_meth_set_write(method, bioWrite)
        BIO_meth_set_ctrl(method, bioCtrl)
        BIO_meth_set_create(method, bioCreate)
        BIO_meth_set_destroy(method, bioDestroy)
        return Method(pointer: method)
    }()
}

private func owner(_ bio: OpaquePointer?) -> ByteBufferBIO? {
    guard let bio, let data = BIO_get_data(bio) else { return nil }
    return Unmanaged<ByteBufferBIO>.fromOpaque(data).takeUnretainedValue()
}

private func bioRead(_ bio: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ count: Int32) -> Int32 {
    guard let buffer, count > 0, let owner = owner(bio) else { return 0 }
    return owner.read(into: buffer, count: Int(count))
}

private func bioWrite(_ bio: OpaquePointer?, _ buffer: UnsafePointer<CChar>?, _ count: Int32) -> Int32 {
    guard let buffer, count >= 0, let owner = owner(bio) else { return -1 }
    return owner.write(from: buffer, count: Int(count))
}

private func bioCtrl(_ bio: OpaquePointer?, _ cmd: Int32, _ larg: Int, _ parg: UnsafeMutableRawPointer?) -> Int {
    switch cmd {
    case BIO_CTRL_GET_CLOSE: return Int(BIO_get_shutdown(bio))
    case BIO_CTRL_SET_CLOSE:
        BIO_set_shutdown(bio, Int32(larg))
        return 1
    default: return owner(bio)?.ctrl(cmd) ?? 0
    }
}

private func bioCreate(_ bio: OpaquePointer?) -> Int32 { 1 }

private func bioDestroy(_ bio: OpaquePointer?) -> Int32 {
    guard let bio else { return 0 }
    owner(bio)?.detach()
    BIO_set_data(bio, nil)
    BIO_set_init(bio, 0)
    return 1
}
