import HTTPTypes

extension HTTPFields {
    /// The value of the fields named `name`, joined with ", " when repeated (RFC 9110 §5.3),
    /// or nil if there is none: what the subscript returns (we read no `Cookie`), without its
    /// lazily mapped, generic `joined`, which cost 3 % of a request's CPU in the profile.
    func value(_ name: HTTPField.Name) -> String? {
        var result: String?
        for index in indices where hasName(name, at: index) {
            if let found = result {
                result = found + ", " + self[index].value
            } else {
                result = self[index].value
            }
        }
        return result
    }

    /// Whether the field at `index` is named `name`. The field is not copied (a `for in` over
    /// the fields copies each one, retaining and releasing its three strings), and the names'
    /// lengths are compared before their bytes: `HTTPField.Name`'s `==` is a call that
    /// compares strings of any length, and a request's dozen lookups each pass every field.
    func hasName(_ name: HTTPField.Name, at index: Int) -> Bool {
        let canonical = self[index].name.canonicalName
        return canonical.utf8.count == name.canonicalName.utf8.count && canonical == name.canonicalName
    }
}
