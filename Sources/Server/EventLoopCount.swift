/// How many event loops NIO's shared group runs, decided once at start-up before anything
/// uses the group.
///
/// NIO counts the machine's cores and cgroup quotas but not the CPU affinity mask (`taskset`,
/// systemd `CPUAffinity=`), and more event loops than CPUs only add context switches; so the
/// default is the smaller of the two. An operator who sets `NIO_SINGLETON_GROUP_LOOP_COUNT`
/// to a number has decided: NIO reads it, and we suggest nothing. A value NIO cannot read as
/// a number (an empty `Environment=` line) it would replace by its core count; ours applies.
public enum EventLoopCount {
    public static let environmentVariable = "NIO_SINGLETON_GROUP_LOOP_COUNT"

    /// The count to suggest to NIO, or nil to leave it to NIO (the operator set the variable).
    /// `processStatus` is the text of `/proc/self/status` (nil where there is none).
    public static func suggestion(environment: [String: String], coreCount: Int, processStatus: String?) -> Int? {
        if environment[environmentVariable].flatMap(Int.init) != nil { return nil }
        return min(coreCount, processStatus.flatMap(allowedCPUs(inStatus:)) ?? coreCount)
    }

    /// CPUs in the kernel's affinity mask, from the `Cpus_allowed:` line of `/proc/<pid>/status`
    /// ("Cpus_allowed:\tff,ffffffff": hex words); nil when the line is missing or empty.
    public static func allowedCPUs(inStatus status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { $0 + (Int(String($1), radix: 16)?.nonzeroBitCount ?? 0) }
        return count > 0 ? count : nil
    }
}
