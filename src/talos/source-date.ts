// The SOURCE_DATE_EPOCH of every build. The public Image Factory sets this one
// value for all of its builds (it is the epoch siderolabs/pkgs builds Talos'
// toolchain with), so ISO dates, PE timestamps, FAT serials and tar mtimes
// come out as its do, and the same inputs give the same bytes on any machine.
export const FACTORY_SOURCE_DATE_EPOCH = 1_559_424_892;
